"""The `hubrelay` command's subcommands, one module each (`hubrelay.cli` wires them up)."""
