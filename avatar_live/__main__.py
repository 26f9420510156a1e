from avatar_live.cli import run

run()
