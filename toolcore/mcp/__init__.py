"""MCP both ways: the /mcp server endpoint and external MCP servers as a tool source."""
