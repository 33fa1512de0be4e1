"""Converting a Hugging Face checkpoint (``config.json``, ``*.safetensors``, a tokenizer)
into one GGUF that llama.cpp loads: ``FROM ./my-finetune`` in a Modelfile.

No PyTorch and no pickle: safetensors files are read here (:mod:`.safetensors`), tensor
by tensor; :mod:`.checkpoint` finds the shards and reads ``config.json``;
:mod:`.architectures` says how each supported architecture's hyperparameters and
tensors become GGUF metadata and tensors (llama.cpp's names, its Q/K layout for Llama);
:mod:`.vocabulary` turns the tokenizer into GGUF's ``tokenizer.ggml.*`` keys;
:mod:`.writer` writes the file; :mod:`.imported` keeps the result in the store, keyed
by the digests of the files it was made from, so that converting again is free.
"""
