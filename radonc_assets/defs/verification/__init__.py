"""Rolling content verification: the archive compared with the sources by content, a slice a day."""
