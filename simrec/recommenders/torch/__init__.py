"""PyTorch recommenders (LightGCN, SASRec); need the torch extra: ``pip install -e ".[torch]"``.

Importing this package imports nothing heavy; each model module imports torch
when its recommender is built.
"""
