"""What every layer shares and that imports nothing else of the package: durations, untrusted text, VADER, faults in words, process settings."""
