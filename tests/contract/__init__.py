"""The store contract: what every backend must do, role by role (`backends/roles/`), run
on the embedded store and on Redis (a real redis-server). A new role gets its tests here."""
