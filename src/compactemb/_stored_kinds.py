"""Where each stored kind is defined: kind name -> the module that registers it when imported.

``compactemb.storage`` owns the registry but names no higher layer; when a file needs a kind that
is not registered yet, storage imports the module declared here (and only that one), whose
classes and loaders then register themselves. A new kind adds one line here, a golden file under
``tests/data/golden/`` and a row in ``docs/FORMAT.md``; tests/test_storage.py checks all three.
"""

COMPONENT_TYPES: dict[str, str] = {
    "vocab": "compactemb.vocab",
    "dense": "compactemb.tables",
    "int8": "compactemb.tables",
    "int4": "compactemb.tables",
    "pq": "compactemb.tables",
    "rq": "compactemb.tables",
    "pq4": "compactemb.tables",
    "lowrank": "compactemb.tables",
    "pruned": "compactemb.tables",
    "hashed": "compactemb.tables",
    "qr": "compactemb.tables",
    "mixed": "compactemb.tables",
    "bit1": "compactemb.tables",
    "bit2": "compactemb.tables",
    "tiered": "compactemb.tables",
    "subword": "compactemb.tables",
    "seen": "compactemb.recommend",
    "classifier_head": "compactemb.train._classifier",
}

FILE_KINDS: dict[str, str] = {
    "vocab": "compactemb.vocab",
    "table": "compactemb.tables",
    "keyed_vectors": "compactemb.keyed",
    "factors": "compactemb.recommend",
    "classifier": "compactemb.train._classifier",
}
