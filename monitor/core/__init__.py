"""What every layer shares and that imports nothing else of the package: durations, untrusted
text, VADER, the HTTP details every request shares, faults in words, process settings."""
