import numpy as np
import pytest

from fields3d.metrics.classification import (
    classification_scores,
    confusion_matrix,
    part_iou,
    segmentation_scores,
)


def test_confusion_and_accuracies():
    true = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0, 2])
    cm = confusion_matrix(true, pred, 4)
    assert cm[0].tolist() == [1, 1, 0, 0] and cm[1].tolist() == [1, 2, 0, 0] and cm.sum() == 6
    s = classification_scores(true, pred, ["a", "b", "c", "d"])
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["per_class_accuracy"] == {"a": 0.5, "b": pytest.approx(2 / 3), "c": 1.0, "d": None}
    assert s["mean_class_accuracy"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    with pytest.raises(ValueError, match="expected labels in"):
        confusion_matrix(true, pred + 3, 4)


def test_part_iou_and_miou():
    assert part_iou([0, 0, 1, 1], [0, 1, 1, 1], [0, 1]) == pytest.approx((0.5 + 2 / 3) / 2)
    assert part_iou([0, 0], [0, 0], [0, 5]) == 1.0  # absent part counts as 1
    s = segmentation_scores(
        [np.array([0, 0, 1, -1]), np.array([2, 2])],
        [np.array([0, 0, 1, 0]), np.array([2, 3])],
        ["x", "y"],
        {"x": [0, 1], "y": [2, 3]},
    )
    assert s["instance_miou"] == pytest.approx((1.0 + 0.25) / 2)
    assert s["point_accuracy"] == pytest.approx(4 / 5)
    assert s["per_class_miou"] == {"x": 1.0, "y": 0.25}
