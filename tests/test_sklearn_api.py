"""scikit-learn's own estimator checks, with the ones that cannot apply to signal estimators listed."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sigxfer import TransferClassifier, TransferRegressor

# A fixed C keeps each of the ~60 fits fast (no cross-validation of the regularisation).
_FAST = dict(strategy={"name": "linear", "C": 1.0}, backbone="tinynet", image_size=32,
             imaging="spectrum", random_state=0, progress=False)

_SIGNALS = ("sklearn feeds 2-D tabular data of a few columns; each row becomes a signal of a few "
            "samples with no time-frequency content, so accuracy thresholds for tabular data do not apply")
_BATCH_NUMERICS = ("float32 convolutions give results that differ by ~1e-6 with the batch's composition "
                   "(oneDNN picks kernels by batch size); sklearn's rtol=1e-4 fails on outputs near 0")
_EXPECTED = {
    "check_methods_subset_invariance": _BATCH_NUMERICS,
    "check_classifiers_train": _SIGNALS,
    "check_regressors_train": _SIGNALS,
    "check_n_features_in": "signals are (n_cases, n_channels, n_timepoints): n_channels_ and n_timepoints_ say it",
    "check_n_features_in_after_fitting": "as check_n_features_in; a wrong signal length is refused with its own message",
    "check_estimators_empty_data_messages": "an empty signal is refused with a signal-shaped message, not sklearn's '0 feature(s)' wording",
}


@parametrize_with_checks([TransferClassifier(**_FAST), TransferRegressor(**_FAST)],
                         expected_failed_checks=lambda est: _EXPECTED)
def test_sklearn_compatible(estimator, check):
    check(estimator)
