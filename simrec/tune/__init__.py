"""``simrec tune``: teach the embedded model the data set's users (a LoRA fine-tune, TALLRec style)."""
