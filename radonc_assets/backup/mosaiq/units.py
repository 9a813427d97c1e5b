"""Mosaiq's units and DICOM's: the factors between them and the angles, each defined once.

Mosaiq keeps lengths in cm, doses in cGy and MLC leaf positions in 0.01 cm; DICOM wants
mm and Gy (the RT Beams Treatment Record, PS3.3 C.8.8.21) and angles in [0, 360).
"""

MM_PER_CM = 10.0
CGY_PER_GY = 100.0
# A_Leaf_Set/B_Leaf_Set hold hundredths of a centimetre: ten units to the millimetre. An
# int, divided by, so that -1234 gives exactly -123.4.
LEAF_UNITS_PER_MM = 10
DEGREES = 360.0
HALF_TURN = 180.0
