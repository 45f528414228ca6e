"""Evaluation metrics of the IPD classifiers (plain numpy; no torch needed).

As in the seeds: the accuracy is the fraction of stimuli whose predicted class equals the class of
the true IPD, and the mean absolute error compares the *true* IPD with the *midpoint* of the
predicted class (in degrees). We also report the class-to-class error (|predicted class - true
class| * class width), which is 0 for a correct prediction.

Confusion matrix convention: ``confusion[true_class, predicted_class]`` = number of stimuli.
"""
from __future__ import annotations

import numpy as np

from ..stimuli.ipd import DEFAULT_CLASSES, IPDClasses


def classification_metrics(ipd_true_rad, predicted_class, classes: IPDClasses = DEFAULT_CLASSES) -> dict:
    """Accuracy, mean absolute errors (deg) and confusion matrix of class predictions."""
    ipd_true_rad = np.asarray(ipd_true_rad, dtype=float).reshape(-1)
    predicted_class = np.asarray(predicted_class).reshape(-1).astype(np.int64)
    if ipd_true_rad.shape != predicted_class.shape:
        raise ValueError("ipd_true_rad and predicted_class must have the same length")
    if ipd_true_rad.size == 0:
        raise ValueError("no stimuli to evaluate")
    if predicted_class.min() < 0 or predicted_class.max() >= classes.n_classes:
        raise ValueError("predicted class out of range")
    true_class = classes.to_class(ipd_true_rad)
    estimate_rad = classes.to_ipd(predicted_class)
    abs_err_deg = np.abs(ipd_true_rad - estimate_rad) * 180.0 / np.pi
    class_err_deg = np.abs(predicted_class - true_class) * classes.width * 180.0 / np.pi
    confusion = np.zeros((classes.n_classes, classes.n_classes), dtype=np.int64)
    np.add.at(confusion, (true_class, predicted_class), 1)
    return {
        "n": int(ipd_true_rad.size),
        "accuracy": float(np.mean(true_class == predicted_class)),
        "mae_deg": float(np.mean(abs_err_deg)),
        "mae_class_deg": float(np.mean(class_err_deg)),
        "confusion": confusion,
    }


def predicted_classes(scores) -> np.ndarray:
    """argmax over classes (ties go to the lowest class index, as numpy's argmax)."""
    return np.argmax(np.asarray(scores), axis=1)
