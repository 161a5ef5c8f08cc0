app_name = "blueprints"
urlpatterns: list = []
