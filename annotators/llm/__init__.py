"""The LLM annotators, pure: prompts, response models and the reading of answers for the
strategy tagger (tagger.py) and describer (describer.py). They send nothing themselves: the
chat client is passed in (annotators/llm/annotator.py says what it must offer). The `llm`
package holds the client and registers the name "llm" in the annotator registry:

    import llm                                   # registers the "llm" tagger and describer
    from annotators import get_tagger
    tagger = get_tagger("llm", base_url="http://127.0.0.1:8000/v1", model="gpt-4o-mini",
                        cache_dir=root / "cache" / "llm")
"""
