"""Where persistence meets call control: validate, then repository, then notify."""
