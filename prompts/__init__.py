"""Few-shot in-context learning: templates, verbalizers, demonstrations, label scoring (in progress).

`prompts` may import `finetune`'s loaders, never the reverse.
"""
