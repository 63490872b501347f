"""OpenIGTLink tracking that never lies: wire protocol, transport, pose store, recording, replay."""
