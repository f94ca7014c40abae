"""The hidden reviewer's probes of issue 10, class by class, through the real server process.

Each test attacks a whole class the issue's items name, from a side the team's own tests did
not take: text an AI system sends back (it is input too), every text field a person must fill,
every place a refusal can echo, every file an operator writes.
"""
