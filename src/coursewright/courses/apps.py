from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "coursewright.courses"
    label = "courses"
