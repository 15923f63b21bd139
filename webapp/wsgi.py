import os

from django.core.wsgi import get_wsgi_application

from webapp.startup import restore_recursion_limit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
application = get_wsgi_application()
restore_recursion_limit()
