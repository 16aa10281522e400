"""Foundation helpers every part may use: one-line validation, devices, the process's cores, atomic file writes,
progress bars, version records and image-tensor conversion. Nothing here knows about models, data or metrics."""
