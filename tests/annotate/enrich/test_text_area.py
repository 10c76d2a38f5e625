"""Text area = union of boxes / frame area: overlaps counted once, boxes clipped to the frame."""
import pytest

from curation.annotate.enrich.text_area import text_area_fraction


def test_overlapping_boxes_counted_once():
    # two 40x20 boxes overlapping on 20x20, in a 100x100 frame: union 1200 px, sum 1600 px
    boxes = [[10, 50, 10, 30], [30, 70, 10, 30]]
    assert text_area_fraction(boxes, [], 100, 100) == pytest.approx(0.12)


def test_identical_boxes_and_polygons_do_not_add_up():
    box = [[0, 50, 0, 50]]
    quad = [[[0, 0], [50, 0], [50, 50], [0, 50]]]
    # (fillPoly includes the far edge: 51 x 51 px; a sum of the four shapes would give 1.0)
    assert text_area_fraction(box * 3, quad, 100, 100) == pytest.approx(0.25, abs=0.015)


def test_boxes_beyond_the_frame_are_clipped_and_empty_is_zero():
    assert text_area_fraction([[-50, 200, -10, 300]], [], 100, 100) == 1.0
    assert text_area_fraction([], [], 100, 100) == 0.0
