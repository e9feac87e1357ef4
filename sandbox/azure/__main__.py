"""``python -m sandbox.azure --root R --cert C --key K --ca CA`` (started by ``sandbox up``)."""

from sandbox.azure.server import main

main()
