"""Label Studio human-in-the-loop: the managed server, the REST client, push and pull.

    from pipeline.labelstudio import server, push, pull
    from pipeline.labelstudio.client import connect

The pure conversion (labelling config, spans <-> results, validation) is in
annotators/labelstudio.py; the CLI is pipeline/labelstudio/command.py.
"""
