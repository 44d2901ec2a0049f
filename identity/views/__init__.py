"""Response bodies of the identity API, in the Keystone v3 wire format."""
