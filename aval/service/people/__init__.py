"""People shown by their display name: the operational directory of people signed in through an
identity provider (never the trail), its retention purge, and ResolvePeople."""
