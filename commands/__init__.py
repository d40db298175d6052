"""fragrisk's commands, one module per family; cli.py puts them on its group. Each command only
parses, calls engine/ and prints (commands/common.py holds what they share)."""
