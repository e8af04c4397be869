"""Every figure the toolkit reports, beside its chance baseline and its uncertainty."""
