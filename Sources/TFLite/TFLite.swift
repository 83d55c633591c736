// TFLite
