"""The UI descriptions of the rolling content verification, beside its factory."""

# The check ``content_verified``.
CONTENT_CHECK_DESCRIPTION = (
    "Every instance compared today is in the archive with its "
    "source's content (outside group 0002, PixelData as encoded)."
)


def content_verification_description(days: int) -> str:
    """``[site, "content_verification"]``, every instance once in `days` days."""
    return (
        f"Rolling content verification (settings.rolling_content_days = {days}): every "
        f"instance the validation reports list as verified is compared by content with "
        f"its source at least once every {days} days, about a {days}-th of them a day: "
        "retrieved from the archive and from the source (DICOM sources by C-GET, Mosaiq "
        "records from the records folder of their date) and hashed outside group 0002. "
        "Due on a day: the instances of its slot (a stable hash of the SOPInstanceUID), "
        "and, at most as many more, those whose last verification failed, then the "
        "longest overdue. Each result is appended to SITE/content_verification.csv; the "
        "check content_verified fails when an instance differs or could not be retrieved "
        "from either side, and a date with an instance whose archived content differs "
        "is incomplete in the coverage. Metadata: instances due and why, verified, "
        "differing, seconds, instances/s, bytes read from the sources, the fraction of "
        f"the verified instances proven identical within the last {days} days."
    )
