"""Generated studio scenes with exact alpha: the test data of post-processing quality, training, the bench and the
tests, kept apart so each of them can use it without depending on the others."""
