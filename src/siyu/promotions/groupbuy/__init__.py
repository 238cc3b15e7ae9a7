"""Group-buy (拼团): rules, groups, seats taken at payment, failure at expiry, and share links."""
