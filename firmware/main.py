"""The board's application (firmware/app): config, relays, sensors, the link to the server."""

from app.node import main

main()
