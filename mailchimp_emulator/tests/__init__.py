"""The emulator's own tests: real HTTP on loopback, Mailchimp's official SDK where natural."""
