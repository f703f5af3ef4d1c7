"""``python -m launcher`` is ``trtl``."""

from launcher.entry import main

main()
