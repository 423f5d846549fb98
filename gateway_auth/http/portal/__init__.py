"""The portal: pages for people (sign-in, registration, the account home)."""
