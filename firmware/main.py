"""The board's application (firmware/app): config, relays, sensors, the link to the server."""

try:
    from app.node import main
except ImportError:
    # No app/ on the filesystem (make deploy puts it there) and none at /rom either: an image made
    # with make image ROMFS=1 keeps it in a partition that only firmware with ROMFS maps there.
    print(
        "main.py: the application (app/) is neither on the filesystem nor at /rom: run make deploy,"
        " or flash firmware built with ROMFS support (MICROPY_VFS_ROM) for an image made with ROMFS=1"
    )
    raise

main()
