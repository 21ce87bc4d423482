"""The datasheet's seven sections and the questions a collection spec may answer in each.

Sections and questions follow Gebru et al., "Datasheets for Datasets", CACM 64(12), 2021.
The spec answers them under `datasheet.<section>.<question>`; the datasheet writes "Not provided
in the collection spec" for every question left out, and adds measured values where it can.
"""

from __future__ import annotations

SECTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "motivation": (
        "Motivation",
        {
            "purpose": "For what purpose was the dataset created?",
            "created_by": "Who created the dataset, and on behalf of which entity?",
            "funded_by": "Who funded the creation of the dataset?",
        },
    ),
    "composition": (
        "Composition",
        {
            "instances": "What do the instances represent?",
            "sampling": "Is it a sample of a larger set, and how was the sample drawn?",
            "labels": "Is there a label or target associated with each instance?",
            "sensitive_data": "Does the dataset contain data that might be considered sensitive?",
            "identifiability": "Can individuals be identified from the dataset?",
        },
    ),
    "collection_process": (
        "Collection process",
        {
            "how_collected": "How was the data associated with each instance acquired?",
            "timeframe": "Over what timeframe was the data collected?",
            "collectors": "Who was involved in the data collection, and how were they paid?",
            "consent": "Did the individuals consent to the collection and use of their data?",
            "revocation": "Can consent be revoked, and how?",
            "ethical_review": "Were any ethical review processes conducted?",
        },
    ),
    "preprocessing": (
        "Preprocessing, cleaning and labelling",
        {
            "steps": "Was any preprocessing, cleaning or labelling done before this pipeline?",
            "raw_data": "Was the raw data saved in addition to the processed data?",
        },
    ),
    "uses": (
        "Uses",
        {
            "prior_uses": "Has the dataset been used for any tasks already?",
            "risks": "Could the composition or collection affect future uses unfairly?",
        },
    ),
    "distribution": (
        "Distribution",
        {
            "how_distributed": "How is the dataset distributed?",
            "restrictions": "Do third parties impose restrictions on the data?",
        },
    ),
    "maintenance": (
        "Maintenance",
        {
            "maintainer": "Who maintains the dataset, and how can they be contacted?",
            "updates": "Will the dataset be updated, how often and by whom?",
            "withdrawals": "How are requests to remove a person's data handled?",
        },
    ),
}
