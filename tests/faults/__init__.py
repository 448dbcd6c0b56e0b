"""The fault suite (#10): every record produced under a fault is stored, spooled or counted as dropped."""
