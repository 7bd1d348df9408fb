"""The asset graph: one subpackage per domain; asset bodies call into trademl."""
