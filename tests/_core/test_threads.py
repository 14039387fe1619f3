import pytest
import torch

from sklearn_meta._core._threads import torch_threads


def test_torch_threads_sets_the_count_and_restores_it_after_an_error():
    with torch_threads(1):
        caller = torch.get_num_threads()
        with pytest.raises(RuntimeError, match="inside"):
            with torch_threads(2):
                assert torch.get_num_threads() == 2
                raise RuntimeError("inside")
        assert torch.get_num_threads() == caller == 1
        with torch_threads(None):
            assert torch.get_num_threads() == 1
