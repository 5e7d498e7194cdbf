"""The smallest valid map the limit, name and CLI input tests start from: Info.dat v2.1 with one
Standard Expert difficulty, and that difficulty in v3 with one note. Copy before changing (deepcopy)."""

INFO = {
    "_version": "2.1.0",
    "_songName": "Minimal",
    "_beatsPerMinute": 120,
    "_songFilename": "song.egg",
    "_difficultyBeatmapSets": [
        {
            "_beatmapCharacteristicName": "Standard",
            "_difficultyBeatmaps": [
                {"_difficulty": "Expert", "_difficultyRank": 7, "_beatmapFilename": "Expert.dat"}
            ],
        }
    ],
}
V3 = {"version": "3.3.0", "colorNotes": [{"b": 4, "x": 1, "y": 0, "c": 0, "d": 1}]}
