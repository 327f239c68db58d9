"""The dashboard's screens: five main screens (one per mode) and two modals (post detail, help)."""
