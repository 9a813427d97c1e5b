"""Mosaiq's enumerated columns and the DICOM terms they become, one table per column.

Where each Mosaiq value comes from (pymedphys/pymedphys at commit ce8f48518):

- ``TxField.Type_Enum``: ``FIELD_TYPES`` in ``lib/pymedphys/_mosaiq/constants.py``.
- ``TxFieldPoint.Energy_Unit_Enum``, ``TxField.Modality_Enum``,
  ``Dose_Hst.Termination_Status_Enum`` and ``Termination_Verify_Status_Enum``:
  ``ENERGY_ENUM``, ``MODALITY_ENUM``, ``TERMINATION_STATUS`` and ``TERMINATION_VERIFY``
  in ``site-specific/mays/tolerance_constants.py`` (a site's chart checks on Mosaiq).
- The ``*_Dir_Enum`` rotation directions are not in pymedphys (its mock schema,
  ``_mosaiq/mock/data/types_map.toml``, only types them ``tinyint``): 0 unspecified,
  1 CW, 2 CC, 3 NONE, as the earlier RadOncBackupSystem's Mosaiq reader maps them and
  the simulated Mosaiq writes them. Confirm against a site's Mosaiq.

A value outside a table is never guessed: it maps to the standard's own term for
"unknown" where there is one (termination status), to no value where the attribute
may be empty or can be derived (verification status, rotation directions, energy
unit), and otherwise the caller skips the row with a reason (radiation type).
"""

from collections.abc import Mapping
from types import MappingProxyType

# PS3.3 C.8.8.21 (Treatment Session Beam Sequence), Treatment Termination Status (3008,002A),
# enumerated values NORMAL, OPERATOR, MACHINE, UNKNOWN. pymedphys TERMINATION_STATUS:
# 0 Unknown, 1 Normal, 2 Operator, 3 Machine.
TERMINATION_STATUS: Mapping[int, str] = MappingProxyType(
    {0: "UNKNOWN", 1: "NORMAL", 2: "OPERATOR", 3: "MACHINE"}
)
# PS3.3 C.8.8.21, Treatment Verification Status (3008,002C), Type 2, enumerated values VERIFIED,
# VERIFIED_OVR (verified with at least one out-of-range value overridden), NOT_VERIFIED (failed
# verification: out of range and not overridden). pymedphys TERMINATION_VERIFY: 0 Unspecified,
# 1 Verified, 2 Verified override, 3 Not Verified.
VERIFICATION_STATUS: Mapping[int, str] = MappingProxyType(
    {1: "VERIFIED", 2: "VERIFIED_OVR", 3: "NOT_VERIFIED"}
)
# PS3.3 C.8.8.14 (RT Beams Module) rotation directions CW, CC, NONE, used again by the Control
# Point Delivery Sequence of C.8.8.21. Not in pymedphys: 0 unspecified, 1 CW, 2 CC, 3 NONE.
ROTATION_DIRECTION: Mapping[int, str] = MappingProxyType({1: "CW", 2: "CC", 3: "NONE"})
# PS3.3 C.8.8.14, Nominal Beam Energy Unit (300A,0015), defined terms MV (megavolt) and MEV (mega
# electron-volt); KV extends them (defined terms may be extended: dciodvfy warns, no error) for
# Mosaiq's kV beams. pymedphys ENERGY_ENUM: 0 Unspecified, 1 KV, 2 MV, 3 MEV.
ENERGY_UNIT: Mapping[int, str] = MappingProxyType({1: "KV", 2: "MV", 3: "MEV"})
# PS3.3 C.8.8.14, Radiation Type (300A,00C6). pymedphys MODALITY_ENUM: 1 X-rays, 2 Electrons
# (3 Co-60, 4 Ortho, 5 E H/D, 6 Protons, 7 kV (orthovoltage), 8 Ir-192, 9 Ion are not linac
# beams metered in MU: protons and ions have their own RT Ion Beams Treatment Record IOD,
# Ir-192 the RT Brachy Treatment Record).
RADIATION_TYPE: Mapping[int, str] = MappingProxyType({1: "PHOTON", 2: "ELECTRON"})
# pymedphys FIELD_TYPES names TxField.Type_Enum (0 Unspecified, 1 Static, 2 StepNShoot,
# 3 Setup, 4 kV Setup, 5 CT, 6 Port, 7 Fixed, 8 Dynamic, 9 MV CT, 11 Arc, 12 Skip Arcs, 13 VMAT,
# 14 DMLC, 15 Helical, 16 Fixed Angle, 17 Path, 18 Shot, 20 User Defined, 21 PDR).
# PS3.3 C.8.8.21, Treatment Delivery Type (3008,0014) defined terms: SETUP = no treatment beam
# (positions for set-up images), TRMT_PORTFILM = portal image with the treatment port; every
# other field type delivers treatment (TREATMENT).
DELIVERY_TYPE: Mapping[int, str] = MappingProxyType(
    {3: "SETUP", 4: "SETUP", 5: "SETUP", 6: "TRMT_PORTFILM", 9: "SETUP"}
)


def termination_status(value: int | None) -> str:
    """Treatment Termination Status of a ``Termination_Status_Enum``; UNKNOWN if unmapped."""
    return TERMINATION_STATUS.get(value, "UNKNOWN") if value is not None else "UNKNOWN"


def verification_status(value: int | None) -> str:
    """Treatment Verification Status of a ``Termination_Verify_Status_Enum``; empty if unmapped."""
    return VERIFICATION_STATUS.get(value, "") if value is not None else ""


def rotation_direction(value: int | None) -> str | None:
    """CW, CC or NONE for a ``*_Dir_Enum``; None when unspecified (then derived from the angles)."""
    return ROTATION_DIRECTION.get(value) if value is not None else None


def energy_unit(value: int | None) -> str | None:
    """KV, MV or MEV for an ``Energy_Unit_Enum``; None when unmapped (energy then left out)."""
    return ENERGY_UNIT.get(value) if value is not None else None


def radiation_type(value: int | None) -> str | None:
    """PHOTON or ELECTRON for a ``TxField.Modality_Enum``; None when unmapped."""
    return RADIATION_TYPE.get(value) if value is not None else None


def delivery_type(value: int | None) -> str:
    """Treatment Delivery Type of a ``TxField.Type_Enum``: SETUP, TRMT_PORTFILM or TREATMENT."""
    return DELIVERY_TYPE.get(value, "TREATMENT") if value is not None else "TREATMENT"
