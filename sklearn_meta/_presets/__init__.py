"""The named estimators: each a preset of ``MetaClassifier`` or ``MetaRegressor``
with its algorithm's parameters flat (as ``Perceptron`` presets ``SGDClassifier``)."""
