"""What the tests share: the anvil fixture factory, waiting helpers, and the banks the API and custody
tests build (`api_bank`, `custody_bank`, and `transfer_driver`, the custody process the crash tests kill)."""
