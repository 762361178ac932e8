"""The framework-neutral core: what PyTorch, TensorFlow and Flax share.

Nothing here imports torch, TensorFlow or JAX. ``config`` (the hyperparameters), ``outputs`` (output
dataclasses that hold any array type), ``hub`` (finding model and tokenizer files in a folder or a hub
repository), ``files`` (atomic writes), ``weights`` (checkpoint file names and one declarative table
per foreign weight layout), ``tasks`` (task ↔ head ↔ pipeline ↔ ONNX outputs ↔ fine-tuning ↔ CLI),
``generation`` (the generation settings), ``inputs`` (range checks of input ids on numpy arrays) and
``errors``.
"""
