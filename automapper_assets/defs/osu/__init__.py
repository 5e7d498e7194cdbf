"""The osu group: osu!standard beatmapsets (.osz) in <home>/osu_raw, their manifest and blacklist."""
