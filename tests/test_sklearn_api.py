"""scikit-learn's own estimator checks, with the ones that cannot apply to signal estimators listed."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sigxfer import TransferClassifier, TransferRegressor

# A fixed C keeps each of the ~60 fits fast (no cross-validation of the regularisation).
_FAST = dict(strategy={"name": "linear", "C": 1.0}, backbone="tinynet", image_size=32,
             transform="spectrum", random_state=0, progress=False)

_TRANSFORM_NAME = ("`transform` is the issue-mandated parameter naming the image (a str); sklearn "
                   "probes hasattr(est, 'transform') and calls it as a transformer method")
_SIGNALS = ("sklearn feeds 2-D tabular data of a few columns; each row becomes a signal of a few "
            "samples with no time-frequency content, so accuracy thresholds for tabular data do not apply")
_EXPECTED = {
    "check_transformer_data_not_an_array": _TRANSFORM_NAME,
    "check_transformer_general": _TRANSFORM_NAME,
    "check_transformers_unfitted": _TRANSFORM_NAME,
    "check_methods_sample_order_invariance": _TRANSFORM_NAME,
    "check_methods_subset_invariance": _TRANSFORM_NAME,
    "check_dict_unchanged": _TRANSFORM_NAME,
    "check_fit_idempotent": _TRANSFORM_NAME,
    "check_estimators_dtypes": _TRANSFORM_NAME,
    "check_dtype_object": _TRANSFORM_NAME,
    "check_estimators_pickle": _TRANSFORM_NAME,
    "check_f_contiguous_array_estimator": _TRANSFORM_NAME,
    "check_fit2d_predict1d": _TRANSFORM_NAME,
    "check_estimators_nan_inf": _TRANSFORM_NAME + " (fit and predict do reject NaN: see test_estimators)",
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
